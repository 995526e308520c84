"""Decoders: one class per (location, kind of prediction), chosen from a
table, with named layers in the published creation order and the settings
a model fixes at build time given to the constructor."""

import pytest
import torch

from openclrs.models import decoders as D
from openclrs.models.decoders import (DecoderInputs, DecoderSettings, log_sinkhorn,
                                      make_decoder)
from openclrs.models.features import AffineFeatures
from openclrs.specs import Location, Type

H, E, B, N, C = 4, 6, 2, 5, 3
NODE = 3 * H

# The published decoders' linear layers, (in, out) in creation order: the
# order the published parameters {probe}_dec_linear, _linear_1, ... map onto.
PUBLISHED_LAYERS = {
    (Location.NODE, Type.SCALAR): [(NODE, 1)],
    (Location.NODE, Type.CATEGORICAL): [(NODE, C)],
    (Location.NODE, Type.POINTER): [(NODE, H), (NODE, H), (E, H), (H, 1)],
    (Location.NODE, Type.PERMUTATION_POINTER): [(NODE, H), (NODE, H), (E, H), (H, 1)],
    (Location.EDGE, Type.MASK): [(NODE, 1), (NODE, 1), (E, 1)],
    (Location.EDGE, Type.CATEGORICAL): [(NODE, C), (NODE, C), (E, C)],
    (Location.EDGE, Type.POINTER): [(NODE, H), (NODE, H), (E, H), (NODE, H), (H, 1)],
    (Location.GRAPH, Type.SCALAR): [(NODE, 1), (H, 1)],
    (Location.GRAPH, Type.CATEGORICAL): [(NODE, C), (H, C)],
    (Location.GRAPH, Type.POINTER): [(NODE, 1), (H, 1), (NODE, 1)],
}
SHAPES = {Location.NODE: (B, N), Location.EDGE: (B, N, N), Location.GRAPH: (B,)}


def inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    adj = (torch.rand(B, N, N, generator=g) > 0.5) | torch.eye(N, dtype=torch.bool)
    return DecoderInputs(torch.randn(B, N, NODE, generator=g),
                         AffineFeatures(torch.rand(B, N, N, 2, generator=g),
                                        torch.randn(2, H, generator=g),
                                        torch.randn(H, generator=g)),
                         torch.randn(B, N, N, E - H, generator=g),
                         torch.randn(B, H, generator=g), adj.float())


@pytest.mark.parametrize("location, type_", sorted(PUBLISHED_LAYERS))
def test_layers_in_published_order_and_shapes(location, type_):
    torch.manual_seed(0)
    decoder = make_decoder(location, type_, H, E, C if type_ == Type.CATEGORICAL else None)
    layers = [(m.in_features, m.out_features) for m in decoder.children()]
    assert layers == PUBLISHED_LAYERS[(location, type_)]
    assert all(not name.isdigit() for name, _ in decoder.named_children())   # named layers
    out = decoder(inputs())
    shape = SHAPES[location]
    if type_ == Type.CATEGORICAL:
        shape = shape + (C,)
    elif type_ in (Type.POINTER, Type.PERMUTATION_POINTER):
        shape = shape + (N,)
    assert out.shape == shape


def test_the_table_covers_every_decodable_probe():
    assert set(D.DECODERS) == {(loc, kind) for loc, kind in D.DECODERS}
    for type_ in (Type.SCALAR, Type.MASK, Type.MASK_ONE, Type.CATEGORICAL, Type.POINTER):
        for location in (Location.NODE, Location.EDGE, Location.GRAPH):
            make_decoder(location, type_, H, E, C)
    with pytest.raises(ValueError, match="no decoder for a edge permutation_pointer"):
        make_decoder(Location.EDGE, Type.PERMUTATION_POINTER, H, E)
    with pytest.raises(ValueError, match="number of classes"):
        make_decoder(Location.NODE, Type.CATEGORICAL, H, E)
    with pytest.raises(ValueError, match="unknown location"):
        make_decoder("hyperedge", Type.SCALAR, H, E)


def test_inf_bias_comes_from_the_settings():
    x = inputs()
    for location, type_, flag in [(Location.NODE, Type.POINTER, "inf_bias"),
                                  (Location.EDGE, Type.MASK, "inf_bias_edge")]:
        torch.manual_seed(0)
        plain = make_decoder(location, type_, H, E)
        torch.manual_seed(0)
        masked = make_decoder(location, type_, H, E, settings=DecoderSettings(**{flag: True}))
        a, b = plain(x), masked(x)
        edges = x.adj > 0.5
        assert torch.equal(a[edges], b[edges])
        for k in range(B):   # below every logit of the sample
            assert (b[k][~edges[k]] < a[k].min()).all()
    # Edge scalars are never masked.
    torch.manual_seed(0)
    a = make_decoder(Location.EDGE, Type.SCALAR, H, E)(x)
    torch.manual_seed(0)
    b = make_decoder(Location.EDGE, Type.SCALAR, H, E,
                     settings=DecoderSettings(inf_bias_edge=True))(x)
    assert torch.equal(a, b)


def test_sinkhorn_settings_come_from_the_constructor():
    settings = DecoderSettings(sinkhorn_steps=3, sinkhorn_temperature=0.5)
    torch.manual_seed(0)
    perm = make_decoder(Location.NODE, Type.PERMUTATION_POINTER, H, E, settings=settings)
    pointer = make_decoder(Location.NODE, Type.POINTER, H, E)
    pointer.load_state_dict(perm.state_dict())
    x = inputs()
    torch.testing.assert_close(perm(x), log_sinkhorn(pointer(x), 3, 0.5))
    torch.manual_seed(5)
    noisy = perm(x, noise=True)
    torch.manual_seed(5)
    torch.testing.assert_close(noisy, log_sinkhorn(pointer(x), 3, 0.5, noise=True))
