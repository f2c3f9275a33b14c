"""Where users' data already is: the OTLP trace receiver (feedback-shaped endpoints live in feedback.integrations)."""
