"""The vectorized unit-cube view the model-based suggesters share must agree with SearchSpace."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from model_based_checks import spaces

from kubetune.algorithms._geometry import Geometry
from kubetune.space import SearchSpace


@settings(max_examples=60, deadline=None)
@given(space=spaces(), seed=st.integers(0, 2**16))
def test_encoding_snapping_and_keys_agree_with_the_space(space: SearchSpace, seed: int) -> None:
    geometry = Geometry.of(space)
    rng = np.random.default_rng(seed)
    params = space.sample(rng, 50)
    encoded = geometry.encode_many(params)
    expected = np.array([space.encode(p) for p in params])
    np.testing.assert_allclose(encoded, expected, rtol=0, atol=1e-12)
    # Snapping lands on encodings of allowed values, and decoding the snap gives the same set.
    raw = rng.random((50, space.dims))
    snapped = geometry.snap(raw)
    np.testing.assert_allclose(geometry.snap(snapped), snapped, atol=1e-12)
    for point, original in zip(snapped, raw, strict=True):
        assert space.canonical(space.decode(point)) == space.canonical(space.decode(original))
        np.testing.assert_allclose(space.encode(space.decode(point)), point, atol=1e-9)
    # Keys coincide exactly when canonical parameter sets do.
    keys = geometry.keys(encoded)
    canonical = [space.canonical(p) for p in params]
    for i in range(len(params)):
        for j in range(i):
            assert (keys[i] == keys[j]) == (canonical[i] == canonical[j])
