"""``method="steer"``: maps of steering (add alpha * direction) over sites x time.

``intervene.patch(model, task, pair, "encoder.block_output", method="steer",
intervention=intervene.Steering(None, direction, alpha=4.0))`` adds the vector at each cell's
site and frames and records the metric; :func:`intervene.anatomy.steer_map` stacks maps over
several alphas. Cells run through ``pyvene.IntervenableModel`` (``AdditionIntervention`` with a
constant source) by default. Guards: alpha = 0 at every site gives the base metric; the
addition matches a plain torch-hook forward.
"""

from __future__ import annotations

from intervene.anatomy.engine import AnatomyMethod
from intervene.anatomy.steering import Steering

__all__ = ["SteerMethod"]


class SteerMethod(AnatomyMethod):
    """Steer each cell (see the module notes); ``intervention=`` an :class:`intervene.Steering` template."""

    name = "steer"
    summary = "add alpha * direction at each cell (intervention=intervene.Steering(None, direction, alpha))"
    kind = Steering
    default_engine = "pyvene"
