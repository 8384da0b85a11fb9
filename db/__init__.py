"""db: the models, sessions, migrations and query/write functions.

Every table module is imported here, so `db.models.Base.metadata` holds every table
whichever db module is imported first (Alembic and the migration test compare it).
"""

from db import upload_models as upload_models
