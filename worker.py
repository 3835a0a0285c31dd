"""The Celery application, and nothing else: `celery -A worker worker`."""

from alerts.celery_app import create_celery
from alerts.config import load_settings

app = create_celery(load_settings())
