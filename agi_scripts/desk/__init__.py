"""The desk: a web console for Special Care, Security, supervisors, admins and agents (``respectline desk``).

A separate process from the FastAGI server, on the same store. ``app.create_app`` builds the ASGI
application (Starlette, Jinja2 templates with autoescaping, a little vanilla JavaScript of our own);
``access`` holds who may see and do what; ``passwords`` hashes with argon2id; ``evidence`` serves a
recording with HTTP range requests; ``serve`` runs it under uvicorn.
"""
