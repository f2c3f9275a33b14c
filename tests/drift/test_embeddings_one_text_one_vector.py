"""The encoder adapter: one text, one vector; long texts chunked and pooled; template strip."""

import numpy as np

from drift_app import embeddings

PREAMBLE = " ".join(["You are a helpful, careful assistant for Acme Cloud customers and always answer politely."] * 25)


def test_copies_of_a_text_get_the_very_same_vector_within_and_across_calls():
    first = embeddings.encode(["reset my password", "what is my balance", "reset my password"])
    assert np.array_equal(first[0], first[2])
    again = embeddings.encode(["a different batch entirely, longer than the others", "reset my password"])
    assert np.array_equal(again[1], first[0])


def test_two_questions_behind_a_long_shared_preamble_no_longer_embed_alike():
    a, b = embeddings.encode([PREAMBLE + " How do I rotate an API key?", PREAMBLE + " Why was my card declined?"])
    assert embeddings.long_text_mask([PREAMBLE + " How do I rotate an API key?", "short"]).tolist() == [True, False]
    assert float(a @ b) < 0.999
    assert abs(float(np.linalg.norm(a)) - 1.0) < 1e-5


def test_the_template_strip_leaves_the_part_users_write():
    pattern = r"You are a helpful.*?politely\."
    assert embeddings.strip_template(PREAMBLE + " How do I rotate an API key?", pattern) == "How do I rotate an API key?"
    assert embeddings.strip_template("no preamble here", pattern) == "no preamble here"
    assert embeddings.strip_template(PREAMBLE, pattern) == PREAMBLE  # nothing left: keep the text
