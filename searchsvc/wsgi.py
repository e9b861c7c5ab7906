"""The WSGI entry point for gunicorn: `gunicorn -c searchsvc/gunicorn_conf.py searchsvc.wsgi:app`."""

from searchsvc.app import create_app

app = create_app()
