"""The search space: study-file domains turned into Ray Tune domains.

A swept key in a study file's `space` mapping takes one of these forms:

    depth: {grid: [18, 34]}              every value, in every sample
    batch_size: {choice: [64, 128]}      one value drawn per sample
    learning_rate: {loguniform: [0.1, 2.0]}
    temperature: {uniform: [0.1, 1.0]}
    width: 0.5                           a plain value: fixed

Ray Tune runs the product of all grids once per sample, so a study has
num_samples x (product of grid sizes) trials.
"""

from ray import tune

DOMAIN_KINDS = ("grid", "choice", "uniform", "loguniform")


class SpaceError(ValueError):
    """Invalid search-space domain; the message names the key and the accepted forms."""


def validate_domain(key, spec):
    """Raise `SpaceError` (a ValueError) when `spec` is not a known domain form."""
    if not isinstance(spec, dict):
        return
    if len(spec) != 1 or next(iter(spec)) not in DOMAIN_KINDS:
        raise SpaceError(
            f"invalid space.{key} {spec!r}; use a plain value or one of "
            + ", ".join(f"{{{kind}: [...]}}" for kind in DOMAIN_KINDS)
        )
    kind, values = next(iter(spec.items()))
    if not isinstance(values, list) or not values:
        raise SpaceError(f"invalid space.{key}.{kind} {values!r}; give a non-empty list")
    if kind in ("uniform", "loguniform"):
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if len(values) != 2 or not numeric or not values[0] < values[1]:
            raise SpaceError(f"invalid space.{key}.{kind} {values!r}; give two numbers [low, high] with low < high")
        if kind == "loguniform" and values[0] <= 0:
            raise SpaceError(f"invalid space.{key}.loguniform {values!r}; the low bound must be > 0")


def domain_values(spec):
    """Values a domain can produce that must each pass validation (range bounds for ranges)."""
    if isinstance(spec, dict):
        return list(next(iter(spec.values())))
    return [spec]


def to_tune_domain(spec):
    """Turn one validated domain spec into a Ray Tune domain or a fixed value."""
    if not isinstance(spec, dict):
        return spec
    kind, values = next(iter(spec.items()))
    if kind == "grid":
        return tune.grid_search(values)
    if kind == "choice":
        return tune.choice(values)
    if kind == "uniform":
        return tune.uniform(*values)
    return tune.loguniform(*values)


def build_param_space(config):
    """Return the Tune param_space: fixed trial settings with the swept keys replaced by domains."""
    space = config.trial_settings()
    for key, spec in config.space.items():
        space[key] = to_tune_domain(spec)
    return space
