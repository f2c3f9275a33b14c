from celery import shared_task
from django.db import InterfaceError, OperationalError

from . import services


@shared_task(
    autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, max_retries=5, acks_late=True,
)
def embed_samples_task(sample_ids: list[int]) -> int:
    return services.samples_embed(sample_ids=sample_ids)


@shared_task(autoretry_for=(OperationalError, InterfaceError), retry_backoff=True, max_retries=3, acks_late=True)
def backfill_embeddings_task() -> int:
    return services.embeddings_backfill()
