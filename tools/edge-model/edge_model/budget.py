"""The accuracy budget: which variants may stand in for the model. Pure; no I/O."""


# What may win the accuracy back, by variant.
ADVICE = {
    "static-int8": "give calibration() more or more representative inputs, or try --calibration-method",
    "dynamic-int8": "prefer static-int8, whose activation ranges come from your data",
    "fp16": "keep fp32 on this model: float16's range or precision does not hold its values",
    "optimized": "keep fp32: a fusion changed the results, which is worth reporting to onnxruntime",
}


def loss_points(reference, accuracy):
    """Accuracy lost against the reference, in percentage points (negative when it gained)."""
    return round((reference - accuracy) * 100.0, 2)


def verdict(name, reference, accuracy, budget_points):
    """(accepted, reason) for a variant scoring `accuracy` against `reference` (both in [0, 1])."""
    if name == "fp32":
        return True, "the reference"
    lost = loss_points(reference, accuracy)
    if lost > budget_points:
        return False, ("loses %.2f points of accuracy (%.2f%% against %.2f%%), over the budget of %.2f "
                       "(%s, or raise --budget to accept it)"
                       % (lost, accuracy * 100, reference * 100, budget_points, ADVICE.get(name, "keep fp32")))
    return True, "within the budget (%.2f points lost, %.2f allowed)" % (max(lost, 0.0), budget_points)
