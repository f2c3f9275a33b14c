"""New-topic labels: no stop words (English or conversational), each example text shown once."""

import numpy as np

from drift_app.stats.novelty import ctfidf_keywords, novel_topics

from .helpers import clustered, topic_centres


def test_topic_keywords_leave_out_english_and_conversational_stop_words():
    keywords = ctfidf_keywords([
        "thanks, please use the refund for my card refund thanks",
        "hello thanks how do I use the weather forecast weather",
        "what is the time",
    ])
    assert keywords[0][:2] == ("refund", "card")
    assert keywords[1][:2] == ("weather", "forecast")
    for words in keywords:
        assert not {"thanks", "use", "please", "hello", "the"} & set(words)


def test_topic_examples_are_distinct_texts_even_when_the_topic_repeats_one():
    centres = topic_centres(1, seed=11)
    window = clustered(200, topic_centres(5, seed=12), seed=13)
    window[:60] = clustered(60, centres, seed=14)
    texts = [f"ordinary prompt {i}" for i in range(200)]
    for i in range(60):
        texts[i] = "reset my router please" if i % 3 else f"router firmware question {i}"
    novel = np.zeros(200, dtype=bool)
    novel[:60] = True
    topics = novel_topics(window, novel, texts, seed=0)
    assert topics and topics[0].size >= 40
    examples = topics[0].representative_texts
    assert len(examples) == len(set(examples))
    assert "router" in topics[0].keywords
