"""Intake: everything a request brings in (files, archives, manifests), read against one
budget per request and refused with a 4xx before anything is stored."""
