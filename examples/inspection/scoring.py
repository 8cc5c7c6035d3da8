"""How read serials are scored against the truth: exact match and character accuracy.

Shared by the demo client, the tests and the edge-model task files, so every figure the
example reports means the same thing.
"""


def edit_distance(a, b):
    """Levenshtein distance: the fewest insertions, deletions and substitutions from a to b."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def character_accuracy(predicted, truth):
    """1 - edit distance / length of the truth, floored at 0 (a read twice too long scores 0)."""
    if not truth:
        return 1.0 if not predicted else 0.0
    return max(0.0, 1.0 - edit_distance(predicted, truth) / len(truth))


def exact_match_rate(predictions, truths):
    """The share of predictions equal to their truth; a missing prediction (None) is a miss."""
    if not truths:
        return 0.0
    return sum(1 for p, t in zip(predictions, truths) if p is not None and p == t) / len(truths)


def mean_character_accuracy(predictions, truths):
    """Character accuracy averaged over the truths; a missing prediction scores 0."""
    if not truths:
        return 0.0
    return sum(character_accuracy(p, t) if p is not None else 0.0 for p, t in zip(predictions, truths)) / len(truths)
