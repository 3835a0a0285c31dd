"""The Celery application, and nothing else: `celery -A worker worker`."""

from alerts.config import load_settings
from alerts.tasks.app import create_celery

app = create_celery(load_settings())
