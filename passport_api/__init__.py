"""The Passport node (FastAPI) and the client library for services (issue 3)."""
