"""Novel vectors: which window vectors lie beyond the baseline's own 99th-percentile distance to
its nearest centroid, and what new topics they form."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.cluster import KMeans
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer
from sklearn.metrics import silhouette_score

from .results import Topic

# Words of conversation, not of a topic: with scikit-learn's English list they never label a topic.
CONVERSATIONAL_STOP_WORDS = frozenset({
    "thanks", "thank", "thx", "pls", "please", "hi", "hello", "hey", "ok", "okay", "yes", "yeah", "no", "sure",
    "use", "using", "used", "want", "wanted", "need", "needs", "know", "like", "just", "tell", "help", "let",
    "lets", "make", "did", "does", "doing", "got", "get", "gets", "going", "way", "really", "good", "great",
    "hmm", "um", "uh", "oh", "dont", "don", "im", "ive", "youre", "whats", "thats", "say", "said", "way",
})
STOP_WORDS = sorted(ENGLISH_STOP_WORDS | CONVERSATIONAL_STOP_WORDS)
MAX_TOPICS = 8
N_REPRESENTATIVES = 5
N_KEYWORDS = 8
# Below this silhouette a split is not convincing: the novel vectors are kept as one topic.
MIN_SILHOUETTE = 0.1
# Topic clustering is part of every drift run: fitted on at most this many novel rows, one k-means
# start per k (k-means++ seeding), silhouette on at most 500 of them.
TOPIC_FIT_CAP = 1000


def min_topic_size(window_size: int) -> int:
    # A topic must hold at least 5 vectors and 0.5% of the window: under no drift about 1% of
    # the window is "novel" by construction, scattered, and should not surface as topics.
    return max(5, int(np.ceil(0.005 * window_size)))


def _choose_labels(points: np.ndarray, min_size: int, seed: int) -> np.ndarray:
    n = points.shape[0]
    max_k = min(MAX_TOPICS, n // min_size)
    if max_k < 2:
        return np.zeros(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    fit_rows = rng.choice(n, TOPIC_FIT_CAP, replace=False) if n > TOPIC_FIT_CAP else np.arange(n)
    score_rows = fit_rows[: min(500, fit_rows.size)]
    best_score, best_model = MIN_SILHOUETTE, None
    for k in range(2, max_k + 1):
        model = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(points[fit_rows])
        labels = model.labels_[: score_rows.size]
        if np.unique(labels).size < 2:
            continue
        score = silhouette_score(points[score_rows], labels)
        if score > best_score:
            best_score, best_model = score, model
    if best_model is None:
        return np.zeros(n, dtype=np.int64)
    return best_model.predict(points).astype(np.int64)


def ctfidf_keywords(class_texts: Sequence[str], *, top: int = N_KEYWORDS) -> list[tuple[str, ...]]:
    """c-TF-IDF (BERTopic's class-based TF-IDF): each class's texts joined into one document;
    weight(t, c) = tf(t, c) / |c| * log(1 + A / f(t)), A = mean words per class, f(t) = the
    term's frequency over all classes. English and conversational stop words (STOP_WORDS) are
    dropped, as are tokens without a letter."""
    vectorizer = CountVectorizer(stop_words=STOP_WORDS, token_pattern=r"(?u)\b[^\W\d_][\w']*\b")
    try:
        counts = vectorizer.fit_transform(class_texts).toarray().astype(np.float64)
    except ValueError:  # every document empty or all stop words
        return [() for _ in class_texts]
    terms = vectorizer.get_feature_names_out()
    words_per_class = counts.sum(axis=1)
    average_words = words_per_class.mean()
    idf = np.log(1.0 + average_words / np.maximum(counts.sum(axis=0), 1.0))
    tf = counts / np.maximum(words_per_class[:, None], 1.0)
    weights = tf * idf
    keywords = []
    for row in weights:
        order = np.argsort(-row, kind="stable")[:top]
        keywords.append(tuple(str(terms[i]) for i in order if row[i] > 0))
    return keywords


def novel_topics(
    vectors: np.ndarray,
    novel: np.ndarray,
    texts: Sequence[str] | None = None,
    *,
    seed: int = 0,
) -> tuple[Topic, ...]:
    """Cluster the novel rows of ``vectors`` (boolean mask ``novel``) into topics, largest first.

    k is picked by silhouette among 2..8 (one topic when no split scores above 0.1); topics
    smaller than :func:`min_topic_size` are dropped. Keywords contrast each topic with the
    rest of the window (the non-novel texts form one extra background class).
    """
    n = vectors.shape[0]
    novel_rows = np.flatnonzero(novel)
    min_size = min_topic_size(n)
    if novel_rows.size < min_size:
        return ()
    points = vectors[novel_rows].astype(np.float32)
    points /= np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-12)
    labels = _choose_labels(points, min_size, seed)
    groups = [np.flatnonzero(labels == label) for label in np.unique(labels)]
    groups = sorted((g for g in groups if g.size >= min_size), key=lambda g: -g.size)
    if not groups:
        return ()

    representatives = []
    for group in groups:
        centre = points[group].mean(axis=0)
        closeness = points[group] @ centre
        ranked = novel_rows[group[np.argsort(-closeness, kind="stable")]]
        if texts is None:
            representatives.append(ranked[:N_REPRESENTATIVES])
            continue
        # Distinct examples: templated traffic repeats one text many times; show each text once.
        seen, chosen = set(), []
        for row in ranked:
            key = " ".join(str(texts[row]).split()).casefold()
            if key not in seen:
                seen.add(key)
                chosen.append(row)
            if len(chosen) == N_REPRESENTATIVES:
                break
        representatives.append(np.array(chosen, dtype=np.int64))

    keywords: list[tuple[str, ...]] = [() for _ in groups]
    if texts is not None:
        if len(texts) != n:
            raise ValueError("texts must have one entry per window vector")
        in_topic = np.zeros(n, dtype=bool)
        documents = []
        for group in groups:
            in_topic[novel_rows[group]] = True
            documents.append(" ".join(str(texts[i]) for i in novel_rows[group]))
        documents.append(" ".join(str(texts[i]) for i in np.flatnonzero(~in_topic)))
        keywords = ctfidf_keywords(documents)[:-1]

    return tuple(
        Topic(
            index=i,
            size=int(group.size),
            share=float(group.size / n),
            representative_indices=tuple(int(r) for r in reps),
            representative_texts=tuple(str(texts[r]) for r in reps) if texts is not None else (),
            keywords=words,
        )
        for i, (group, reps, words) in enumerate(zip(groups, representatives, keywords))
    )
