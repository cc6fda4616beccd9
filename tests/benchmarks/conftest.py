"""The benchmark scripts' runs in these tests share the session's whisper-tiny.en.

Each script loads its model with :func:`intervene.load_model`; here that returns the session
fixture's model for ``whisper-tiny.en`` on the CPU (a load costs as much as ~25 forward passes,
and the scripts' tests start ten runs). Other names and devices load as usual; tests that count
or refuse loads patch ``intervene.load_model`` over this. Module-scoped, so the module-scoped
``quick_run`` fixtures get it too, and it ends with each module.
"""

from __future__ import annotations

import pytest

import intervene


@pytest.fixture(scope="module", autouse=True)
def _share_tiny_en(request):
    real = intervene.load_model
    loading = []  # the tiny_en fixture itself loads through intervene.load_model

    def load_model(name, *args, device=None, **kwargs):
        if name == "whisper-tiny.en" and not args and not kwargs and device in (None, "cpu") and not loading:
            loading.append(True)
            try:
                return request.getfixturevalue("tiny_en")
            finally:
                loading.clear()
        return real(name, *args, device=device, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(intervene, "load_model", load_model)
        yield
