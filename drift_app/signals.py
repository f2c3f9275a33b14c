"""Signals the layers above drift_app listen to (they may import drift_app; drift_app never imports them)."""

from django.dispatch import Signal

# Sent after the transaction that stored new samples commits: deployment_id (int), sample_ids (list[int]).
# feedback applies the tool scores that arrived before their trace (feedback.integrations).
samples_created = Signal()
