"""``method="ablation"``: maps of ablations (zero, mean, resample, silence) over sites x time.

``intervene.patch(model, task, pair, "encoder.block_output", method="ablation",
intervention=intervene.Ablation(None, kind="silence"))`` ablates each cell's site at the cell's
frames in the base run and records the task metric (a layer x time map). Cells run through
``pyvene.IntervenableModel`` by default (zero: ``ZeroIntervention``; mean, resample and silence:
a constant-source ``VanillaIntervention``). Guards: a mean ablation over a set of one clip, the
run's own input, at every site must give the base metric; the kind at every position must
match a plain torch-hook forward.
"""

from __future__ import annotations

from intervene.anatomy.ablation import Ablation
from intervene.anatomy.engine import AnatomyMethod

__all__ = ["AblationMethod"]


class AblationMethod(AnatomyMethod):
    """Ablate each cell (see the module notes); ``intervention=`` an :class:`intervene.Ablation` template."""

    name = "ablation"
    summary = "ablate each cell (zero, mean, resample or silence; intervention=intervene.Ablation(None, kind=...))"
    kind = Ablation
    default_engine = "pyvene"

    @classmethod
    def default_template(cls):
        return Ablation(None, kind="zero")
