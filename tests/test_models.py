"""The network: every variant from the composed config, CE/TSF, recovery, fusion blocks, weights."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import src
from src.conf import register_resolvers, variant_names
from src.models import TrackerNet, build_network
from src.models.backbone import VisionTransformerCE
from src.models.layers import (
    CEBStage,
    CMCBlock,
    CMCBlock1,
    CustomCrossModalAttention,
    GateLayer,
    candidate_elimination,
    recover_tokens,
    template_center_index,
    template_mask_from_box,
)
from src.models.pretrained import load_pretrained, resize_pos_embed
from tests.helpers.configs import compose_config

CONF_DIR = str(src.__path__[0].rsplit("/", 1)[0] + "/conf")
VARIANTS = variant_names()  # conf/variant/
STAGES_OF = {"single": [], "cmc": ["cmc"], "cmc_cmc": ["cmc", "cmc"], "cmc1": ["cmc1"],
             "cmc1_cmc": ["cmc1", "cmc"], "cmc_ceb_cmc": ["cmc", "ceb", "cmc"],
             "cmc1_ceb_cmc": ["cmc1", "ceb", "cmc"]}


@pytest.fixture(autouse=True)
def _one_thread():
    """These are many small ops: on the shared 2-core machine, intra-op threads mostly wait on each
    other (a 2-thread forward+backward of the CPU-default net measured 10x slower than 1 thread).
    Restored afterwards, so other test modules keep their setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def compose_net(overrides: list[str]) -> dict:
    from omegaconf import OmegaConf

    register_resolvers()
    cfg = compose_config("train.yaml", overrides=overrides)
    return OmegaConf.to_container(cfg.model.net, resolve=True)


def tiny_cfg(**fusion) -> dict:
    """A very small network for the property tests (fast on a shared 2-core CPU)."""
    return {
        "variant": "test", "modalities": ["visible", "infrared"], "template_size": 32, "search_size": 64,
        "patch_size": 16,
        "backbone": {"embed_dim": 32, "depth": 3, "num_heads": 2, "ce_loc": [0, 1],
                     "ce_keep_ratio": [0.7, 0.7], "ce_template_mask": "all"},
        "fusion": {"align": "recover", "stages": ["cmc"], **fusion},
        "head": {"channels": 16},
    }


def inputs(cfg: dict, batch: int = 2, ir_channels: int = 3, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    z, x = cfg["template_size"], cfg["search_size"]
    return {"template_visible": torch.randn(batch, 3, z, z, generator=g),
            "search_visible": torch.randn(batch, 3, x, x, generator=g),
            "template_infrared": torch.randn(batch, ir_channels, z, z, generator=g),
            "search_infrared": torch.randn(batch, ir_channels, x, x, generator=g)}


def check_forward_backward(net: TrackerNet, cfg: dict, batch: int = 2) -> None:
    net.train()
    out = net(**inputs(cfg, batch, ir_channels=1), template_box=torch.tensor([[0.5, 0.5, 0.4, 0.3]] * batch))
    f = cfg["search_size"] // net.head_stride  # the patch grid, or the stem's finer one (head.stride)
    assert out["score_map"].shape == (batch, 1, f, f)
    assert out["size_map"].shape == (batch, 2, f, f)
    assert out["offset_map"].shape == (batch, 2, f, f)
    assert out["pred_boxes"].shape == (batch, 4)
    assert ((out["score_map"] > 0) & (out["score_map"] < 1)).all()
    n_ce = len(cfg["backbone"]["ce_loc"]) + cfg["fusion"]["stages"].count("ceb")
    assert len(out["keep_index"]) == n_ce
    loss = sum(out[k].mean() for k in ("score_map", "size_map", "offset_map")) + out["pred_boxes"].sum()
    loss.backward()
    no_grad = [n for n, p in net.named_parameters() if p.grad is None]
    assert not no_grad, f"parameters without gradient: {no_grad[:5]}"
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())
    # the fusion stages really take part
    for stage in net.fusion:
        assert any(p.grad.abs().sum() > 0 for p in stage.parameters())


# ---------------------------------------------------------------- variants from the composed config


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_cpu_default(variant):
    cfg = compose_net([f"+variant={variant}"])
    assert cfg["variant"] == variant and cfg["fusion"]["stages"] == STAGES_OF[variant]
    assert cfg["modalities"] == (["visible"] if variant == "single" else ["visible", "infrared"])
    net = build_network(cfg)
    assert net.stages == STAGES_OF[variant]
    check_forward_backward(net, cfg)


# ViT-B at batch 2 takes 10-30 s per variant on the shared 2-core CPU: the default run covers
# cmc1_ceb_cmc (every stage type); `make test-full` runs the rest.
@pytest.mark.parametrize("variant", [pytest.param(v, marks=[] if v == "cmc1_ceb_cmc" else pytest.mark.slow)
                                     for v in VARIANTS])
def test_variant_vitb_256(variant):
    cfg = compose_net(["model=vitb_256", f"+variant={variant}"])
    assert (cfg["template_size"], cfg["search_size"], cfg["backbone"]["embed_dim"]) == (128, 256, 768)
    net = build_network(cfg)
    check_forward_backward(net, cfg)


def test_conv_stem_embeds_patches_like_the_linear_stem():
    from src.models.backbone import ConvStem

    stem = ConvStem(16, 32, [8, 8, 16, 16])
    assert stem(torch.randn(2, 3, 64, 96)).shape == (2, 4 * 6, 32)
    with pytest.raises(ValueError, match="one width per stride-2 layer"):
        ConvStem(16, 32, [8, 16])
    with pytest.raises(ValueError, match="power-of-two"):
        ConvStem(12, 32, [8, 8])
    cfg = {"template_size": 32, "search_size": 64,
           "backbone": {"embed_dim": 32, "depth": 2, "num_heads": 2, "ce_loc": [1], "ce_keep_ratio": [0.75],
                        "stem": "conv", "stem_channels": [8, 8, 16, 16]}, "head": {"channels": 16}}
    net = build_network(cfg).eval()
    assert isinstance(net.backbone.patch_embed, ConvStem)
    z, x = torch.randn(1, 3, 32, 32), torch.randn(1, 3, 64, 64)
    assert net(z, x, z, x)["score_map"].shape == (1, 1, 4, 4)
    with pytest.raises(ValueError, match="stem must be one of"):
        build_network({**cfg, "backbone": {**cfg["backbone"], "stem": "convnext"}})


@pytest.mark.parametrize("modalities", [["visible"], ["visible", "infrared"]])
def test_head_stride_8_predicts_on_the_stem_grid(modalities):
    """``head.stride`` 8 < patch 16: the maps are twice as fine, and a box decodes on that grid."""
    cfg = {"template_size": 32, "search_size": 64, "modalities": modalities,
           "fusion": {"stages": ["cmc"] if len(modalities) == 2 else []},
           "backbone": {"embed_dim": 32, "depth": 2, "num_heads": 2, "ce_loc": [1], "ce_keep_ratio": [0.75],
                        "stem": "conv", "stem_channels": [8, 8, 16, 16]},
           "head": {"channels": 16, "stride": 8}}
    net = build_network(cfg).eval()
    assert net.head_stride == 8 and net.head.feat_size == 8
    assert net.head.fine.skip.conv.in_channels == 16  # the stem's width at stride 8, whatever the modalities
    z, x = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 64, 64)
    out = net(z, x, z, x)
    assert out["score_map"].shape == (2, 1, 8, 8) and out["size_map"].shape == (2, 2, 8, 8)
    flat = out["score_map"].flatten(1).argmax(1)
    centre = out["pred_boxes"][:, :2] * 8 - out["offset_map"].flatten(2).gather(
        2, flat.view(2, 1, 1).expand(-1, 2, 1)).squeeze(-1)
    torch.testing.assert_close(centre, torch.stack([flat % 8, flat // 8], 1).float())
    for bad, match in ((12, "power of two"), (32, "power of two")):
        with pytest.raises(ValueError, match=match):
            build_network({**cfg, "head": {"channels": 16, "stride": bad}})
    with pytest.raises(ValueError, match="needs backbone.stem=conv"):
        build_network({**cfg, "backbone": {**cfg["backbone"], "stem": "patch"}})


def test_depthwise_xcorr_peaks_where_the_template_sits():
    """Each channel of the correlation peaks where that channel's kernel was copied into the search map
    (the kernel's centre; for an even kernel the cell below and right of its centre point)."""
    from src.models.layers.head import depthwise_xcorr

    torch.manual_seed(0)
    search = torch.randn(2, 3, 16, 16) * 0.1
    kernel = torch.randn(2, 3, 4, 4)
    for b, (row, col) in enumerate(((5, 9), (10, 3))):
        search[b, :, row - 2:row + 2, col - 2:col + 2] = kernel[b]
    corr = depthwise_xcorr(search, kernel)
    assert corr.shape == search.shape
    for b, (row, col) in enumerate(((5, 9), (10, 3))):
        for c in range(3):
            assert divmod(int(corr[b, c].argmax()), 16) == (row, col)
    torch.testing.assert_close(corr[0, 0, 5, 9], (kernel[0, 0] ** 2).sum() / 16)


def test_xcorr_head_reads_the_template_through_the_stem():
    """``head.xcorr``: the head's input holds the correlation of the search crop's stem features with the
    template's; without a stride below the patch size there are no stem features to correlate."""
    cfg = {"template_size": 32, "search_size": 64, "modalities": ["visible", "infrared"],
           "fusion": {"stages": ["cmc"]},
           "backbone": {"embed_dim": 32, "depth": 2, "num_heads": 2, "ce_loc": [1], "ce_keep_ratio": [0.75],
                        "stem": "conv", "stem_channels": [8, 8, 16, 16]},
           "head": {"channels": 16, "stride": 8, "xcorr": True}}
    net = build_network(cfg).eval()
    assert net.backbone.template_skip and net.head.fine.corr.conv.in_channels == 16
    seen = {}
    net.head.fine.corr.register_forward_hook(lambda module, args, out: seen.update(corr=args[0]))
    z, x = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 64, 64)
    out = net(z, x, z, x)
    assert out["score_map"].shape == (2, 1, 8, 8) and seen["corr"].shape == (2, 16, 8, 8)
    first = seen["corr"].clone()
    net(torch.randn(2, 3, 32, 32), x, z, x)
    assert not torch.allclose(first, seen["corr"])  # another template, another correlation
    plain = build_network({**cfg, "head": {"channels": 16, "stride": 8}})
    assert plain.head.fine.corr is None and not plain.backbone.template_skip
    with pytest.raises(ValueError, match="xcorr correlates"):
        build_network({**cfg, "head": {"channels": 16, "stride": None, "xcorr": True}})


def test_score_map_starts_at_centernets_prior():
    """A new head scores every cell about 0.1 (CenterNet's bias -2.19), not 0.5: at 0.5 the focal loss of
    the 255 background cells of a 16x16 map swamps the first steps
    (docs/results/benchmarks_history_2026-12-03)."""
    from src.models.layers.head import SCORE_PRIOR_BIAS, CenterPredictor

    head = CenterPredictor(32, channels=16, feat_size=8).train()
    assert head.score_tower[-1].bias.item() == pytest.approx(SCORE_PRIOR_BIAS)
    score = head(torch.randn(4, 32, 8, 8))[0]
    assert 0.02 < score.median().item() < 0.3
    assert head.size_tower[-1].bias.abs().max().item() < 1.0  # only the score map gets the prior


def test_fine_token_branch_has_no_batch_statistics():
    """The token branch of the stride-8 head reads no batch statistics: with BN there, weight decay shrinks
    its conv until the running variance is ~1e-5 and eval mode drifts from train mode
    (docs/results/benchmarks_history_2026-12-03). Train and eval mode must agree on it."""
    from src.models.layers.head import FineFeatures

    fine = FineFeatures(32, 16, 24, scale=2)
    tokens = torch.randn(4, 32, 4, 4) * 1e-3 + 5.0  # a tiny-variance, shifted map, as in the failure
    train_out = fine.train().tokens(tokens)
    eval_out = fine.eval().tokens(tokens)
    torch.testing.assert_close(train_out, eval_out)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in fine.tokens.modules())


def test_a_partial_config_is_completed_from_the_yaml_defaults():
    """Keys a config lacks (a test's small network, a checkpoint saved before the key existed) come from
    conf/model/net/base.yaml, the one place the network's defaults live."""
    from omegaconf import OmegaConf

    from src.models.network import resolve_config

    base = OmegaConf.to_container(OmegaConf.load(CONF_DIR + "/model/net/base.yaml"))
    base.pop("defaults")  # its schema: src.conf.NetConfig
    resolved = resolve_config(tiny_cfg())
    assert resolved["backbone"]["embed_dim"] == 32 and resolved["patch_size"] == base["patch_size"]
    for key in ("mlp_ratio", "drop_path_rate", "sort_kept", "stem", "stem_channels", "pretrained"):
        assert resolved["backbone"][key] == base["backbone"][key], key
    assert resolved["fusion"]["max_len"] == base["fusion"]["max_len"] and resolved["head"]["stride"] is None
    assert resolve_config({}) == base


def test_default_variant_is_cmc():
    cfg = compose_net([])
    assert cfg["variant"] == "cmc" and cfg["fusion"]["stages"] == ["cmc"]
    assert cfg["fusion"]["align"] == "recover" and cfg["backbone"]["sort_kept"] is True


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="unknown key"):
        build_network({**tiny_cfg(), "bakbone": {}})
    with pytest.raises(ValueError, match=r"model\.net\.backbone\.dpth: unknown key"):
        build_network({**tiny_cfg(), "backbone": {**tiny_cfg()["backbone"], "dpth": 2}})
    with pytest.raises(ValueError, match="model.net.backbone.depth: Value 'three'"):
        build_network({**tiny_cfg(), "backbone": {**tiny_cfg()["backbone"], "depth": "three"}})
    with pytest.raises(ValueError, match="unknown stage"):
        build_network(tiny_cfg(stages=["cmc", "cmx"]))
    with pytest.raises(ValueError, match="max_len"):
        build_network(tiny_cfg(stages=["cmc1"], max_len=10))
    single = {**tiny_cfg(), "modalities": ["visible"]}
    with pytest.raises(ValueError, match="no fusion"):
        build_network(single)


# ---------------------------------------------------------------- candidate elimination and TSF


@pytest.mark.parametrize(("lens_s", "rho"),
                         [(64, 0.7), (256, 0.7), (180, 0.7), (45, 0.5), (10, 0.55), (7, 0.1)])
def test_ce_keeps_ceil_rho_ls(lens_s, rho):
    B, H, lens_t, C = 3, 2, 5, 8
    attn = torch.rand(B, H, lens_t + lens_s, lens_t + lens_s).softmax(-1)
    tokens = torch.randn(B, lens_t + lens_s, C)
    gidx = torch.stack([torch.randperm(300)[:lens_s] for _ in range(B)])
    out, keep, removed, keep_local = candidate_elimination(attn, tokens, lens_t, rho, gidx)
    k = math.ceil(rho * lens_s)
    assert keep.shape == (B, k) and out.shape == (B, lens_t + k, C)
    assert removed.shape == (B, lens_s - k)
    assert torch.equal(out[:, :lens_t], tokens[:, :lens_t])  # template tokens are never eliminated
    # kept + removed are exactly the incoming tokens
    assert torch.equal(torch.cat([keep, removed], 1).sort(1).values, gidx.sort(1).values)
    # the kept ones are the top-k by mean template-to-search attention
    score = attn[:, :, :lens_t, lens_t:].mean(dim=(1, 2))
    top = score.topk(k, dim=1).indices
    assert torch.equal(keep_local.sort(1).values, top.sort(1).values)


def test_tsf_sorts_kept_indices_ascending():
    torch.manual_seed(1)
    B, H, lens_t, lens_s = 4, 3, 4, 64
    attn = torch.rand(B, H, lens_t + lens_s, lens_t + lens_s).softmax(-1)
    tokens = torch.randn(B, lens_t + lens_s, 6)
    gidx = torch.arange(lens_s).expand(B, -1)
    _, keep_on, _, _ = candidate_elimination(attn, tokens, lens_t, 0.7, gidx, sort_kept=True)
    _, keep_off, _, _ = candidate_elimination(attn, tokens, lens_t, 0.7, gidx, sort_kept=False)
    assert (keep_on.diff(dim=1) > 0).all()
    assert not (keep_off.diff(dim=1) > 0).all()  # OSTrack's order follows the attention, not space
    assert torch.equal(keep_on, keep_off.sort(1).values)  # same tokens, different order


def test_tsf_ascending_through_backbone_ce_layers():
    net = build_network(tiny_cfg()).eval()
    with torch.no_grad():
        out = net(**inputs(tiny_cfg(), batch=3))
    for keep in out["keep_index"] + out["keep_index_infrared"]:
        assert (keep.diff(dim=1) > 0).all()
    first = math.ceil(0.7 * 16)
    assert [k.shape[1] for k in out["keep_index"]] == [first, math.ceil(0.7 * first)]


def test_mask_weighted_mean_matches_seed_boolean_indexing():
    """The seed indexes attn with the mask and views it back (equal counts only); ours is a weighted mean."""
    B, H, lens_t, lens_s = 2, 3, 16, 20
    attn = torch.rand(B, H, lens_t + lens_s, lens_t + lens_s).softmax(-1)
    mask = torch.zeros(B, lens_t, dtype=torch.bool)
    mask[:, [5, 6, 9, 10]] = True
    attn_t = attn[:, :, :lens_t, lens_t:]
    m = mask.unsqueeze(1).unsqueeze(-1).expand(-1, H, -1, lens_s)
    seed_score = attn_t[m].view(B, H, -1, lens_s).mean(dim=2).mean(dim=1)
    k = math.ceil(0.6 * lens_s)
    seed_keep = seed_score.sort(dim=1, descending=True).indices[:, :k].sort(1).values
    _, keep, _, _ = candidate_elimination(attn, torch.randn(B, lens_t + lens_s, 4), lens_t, 0.6,
                                          torch.arange(lens_s).expand(B, -1), mask)
    assert torch.equal(keep, seed_keep)


def test_keep_ratio_override():
    cfg = tiny_cfg()
    net = build_network(cfg).eval()
    with torch.no_grad():
        full = net(**inputs(cfg), keep_ratio=1.0)
        half = net(**inputs(cfg), keep_ratio=0.5)
    assert [k.shape[1] for k in full["keep_index"]] == [16, 16]
    assert [k.shape[1] for k in half["keep_index"]] == [8, 4]


def test_template_mask_modes():
    box = torch.tensor([[0.5, 0.5, 0.5, 0.5], [0.1, 0.9, 0.01, 0.01]])
    assert template_mask_from_box(box, 4, "all") is None
    center = template_mask_from_box(box, 4, "center").view(2, 4, 4)
    # OSTrack's CTR_POINT: the grid's centre token (1, 1) on a 4x4 grid, wherever the box is
    assert center.sum() == 2 and center[0, 1, 1] and center[1, 1, 1]
    centred = template_mask_from_box(torch.tensor([[0.5, 0.5, 0.2, 0.2]]), 8, "center")
    assert torch.equal(centred, template_mask_from_box(None, 8, "center", batch=1))
    m = template_mask_from_box(box, 4, "box").view(2, 4, 4)
    # box 0 spans [0.25, 0.75]: patch centres 0.375 and 0.625 -> the middle 2x2 patches
    assert m[0, 1:3, 1:3].all() and m[0].sum() == 4
    assert m[1].sum() == 1 and m[1, 3, 0]  # a box smaller than a patch falls back to its centre patch
    no_box = template_mask_from_box(None, 8, "center", batch=3).view(3, 8, 8)
    assert no_box[:, 3, 3].all() and no_box.sum() == 3  # OSTrack's CTR_POINT for an 8x8 template
    with pytest.raises(ValueError, match="ce_template_mask"):
        template_mask_from_box(box, 4, "middle")


@pytest.mark.parametrize(("grid", "index"), [(7, 3), (8, 3), (12, 5), (14, 6), (4, 1)])
def test_center_token_is_ostracks_ctr_point(grid, index):
    # botaoye/OSTrack lib/utils/ce_utils.py generate_mask_cond, CTR_POINT: slice(3, 4) for 7x7 and 8x8,
    # slice(5, 6) for 12x12, slice(6, 7) for 14x14 (4x4, the CPU default, is not in OSTrack's list)
    assert template_center_index(grid) == index
    off_centre = torch.tensor([[0.2, 0.8, 0.1, 0.3]])
    mask = template_mask_from_box(off_centre, grid, "center").view(grid, grid)
    assert mask.sum() == 1 and mask[index, index]


def test_center_mask_keeps_the_same_tokens_for_any_template_box():
    """ce_template_mask=center: a non-centred template box gives the same CE kept-token set as the
    centred one (the mask is the centre token, not the box's); with `box` the box steers it."""
    cfg = tiny_cfg()
    cfg["template_size"], cfg["search_size"] = 64, 128  # 4x4 template, 8x8 search grid
    cfg["backbone"] = {**cfg["backbone"], "ce_template_mask": "center", "ce_loc": [0, 1],
                       "ce_keep_ratio": [0.5, 0.5]}
    torch.manual_seed(0)
    net = build_network(cfg).eval()
    x = inputs(cfg)
    x.pop("template_box", None)
    centred = torch.tensor([[0.5, 0.5, 0.4, 0.4]] * 2)
    off_centre = torch.tensor([[0.8, 0.2, 0.3, 0.3], [0.15, 0.85, 0.25, 0.2]])
    with torch.no_grad():
        kept_c = net(**x, template_box=centred)["keep_index"]
        kept_o = net(**x, template_box=off_centre)["keep_index"]
        kept_none = net(**x)["keep_index"]
    assert len(kept_c) == 2 and kept_c[-1].shape[1] < 64  # elimination happened
    for a, b, c in zip(kept_c, kept_o, kept_none):
        for row in range(2):
            assert set(a[row].tolist()) == set(b[row].tolist()) == set(c[row].tolist())
    # the same inputs under `box`: the off-centre box picks other tokens
    net.ce_template_mask = "box"
    with torch.no_grad():
        box_c = net(**x, template_box=centred)["keep_index"]
        box_o = net(**x, template_box=off_centre)["keep_index"]
    assert any(set(a[r].tolist()) != set(b[r].tolist()) for a, b in zip(box_c, box_o) for r in range(2))


def test_template_box_steers_elimination():
    cfg = tiny_cfg()
    cfg["backbone"]["ce_template_mask"] = "box"
    net = build_network(cfg).eval()
    x = inputs(cfg)
    with torch.no_grad():
        a = net(**x, template_box=torch.tensor([[0.25, 0.25, 0.4, 0.4]] * 2))
        b = net(**x, template_box=torch.tensor([[0.75, 0.75, 0.4, 0.4]] * 2))
    assert not torch.equal(a["keep_index"][0], b["keep_index"][0])


# ---------------------------------------------------------------- recovery


def test_recover_tokens_places_tokens_at_their_positions():
    B, L_s, C = 3, 20, 5
    gidx = torch.stack([torch.randperm(L_s)[:13] for _ in range(B)])
    tokens = torch.randn(B, 13, C)
    full = recover_tokens(tokens, gidx, L_s)
    assert full.shape == (B, L_s, C)
    for b in range(B):
        assert torch.equal(full[b, gidx[b]], tokens[b])
        removed = sorted(set(range(L_s)) - set(gidx[b].tolist()))
        assert (full[b, removed] == 0).all()
    # nothing removed but permuted (TSF off): recovery undoes the permutation
    perm = torch.stack([torch.randperm(L_s) for _ in range(B)])
    src_tok = torch.randn(B, L_s, C)
    out = recover_tokens(src_tok.gather(1, perm.unsqueeze(-1).expand(-1, -1, C)), perm, L_s)
    assert torch.equal(out, src_tok)


def test_backbone_recovery_puts_tokens_back_where_they_came_from():
    """CE in the last block: attention ran on the full sequence and only the per-token MLP and
    norm follow, so each kept token, recovered, must equal the CE-off output at its grid position."""
    bb = VisionTransformerCE(32, 64, embed_dim=16, depth=3, num_heads=2, ce_loc=[2], ce_keep_ratio=[0.5])
    bb.eval()
    z, x = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 64, 64)
    for sort_kept in (True, False):
        bb.sort_kept = sort_kept
        with torch.no_grad():
            ce = bb(z, x)
            ref = bb(z, x, keep_ratio=1.0)
        assert ce["global_index"].shape == (2, 8) and ref["global_index"].shape == (2, 16)
        full = recover_tokens(ce["search"], ce["global_index"], bb.num_search)
        for b in range(2):
            kept = ce["global_index"][b]
            torch.testing.assert_close(full[b, kept], ref["search"][b, kept], rtol=0, atol=1e-5)
            removed = sorted(set(range(16)) - set(kept.tolist()))
            assert (full[b, removed] == 0).all()


# ---------------------------------------------------------------- fusion blocks


def _batch_independent(fn, shapes, j=2):
    torch.manual_seed(3)
    args = [torch.randn(*s) for s in shapes]
    with torch.no_grad():
        ref = fn(*args)
        changed = [a.clone() for a in args]
        for a in changed:
            a[j] = torch.randn_like(a[j]) * 5
        new = fn(*changed)
    ref, new = (ref if isinstance(ref, tuple) else (ref,)), (new if isinstance(new, tuple) else (new,))
    for r, n in zip(ref, new):
        if not isinstance(r, torch.Tensor) or r.dim() == 0:
            continue
        keep = [i for i in range(r.shape[0]) if i != j]
        torch.testing.assert_close(n[keep], r[keep], rtol=0, atol=1e-6)
        assert not torch.allclose(n[j], r[j])


@pytest.mark.parametrize("block", ["cmc", "cmc1", "attn1", "gate", "ceb"])
def test_fusion_blocks_are_batch_independent(block):
    C, N, B = 32, 20, 4
    if block == "cmc":
        m = CMCBlock(C, 4).eval()
        _batch_independent(m, [(B, N, C), (B, N, C)])
    elif block == "cmc1":
        m = CMCBlock1(C, 4, max_len=30).eval()
        _batch_independent(m, [(B, N, C), (B, N, C)])
    elif block == "attn1":
        m = CustomCrossModalAttention(C, 4, max_len=30).eval()
        _batch_independent(m, [(B, N, C), (B, N, C)])
    elif block == "gate":
        _batch_independent(GateLayer(C).eval(), [(B, N, C), (B, N, C)])
    else:
        m = CEBStage(C, 4, keep_ratio=0.5).eval()
        gidx = torch.arange(16).expand(B, -1)
        _batch_independent(lambda f, i: m(f, i, gidx, 4)[:2], [(B, N, C), (B, N, C)])


def test_whole_network_is_batch_independent():
    for stages in (["cmc1", "ceb", "cmc"], ["cmc", "ceb", "cmc"]):
        cfg = tiny_cfg(stages=stages)
        net = build_network(cfg).eval()
        x = inputs(cfg, batch=3)

        def run(tv, sv, ti, si, net=net):
            out = net(tv, sv, ti, si)
            return out["score_map"], out["size_map"], out["offset_map"]

        with torch.no_grad():
            ref = run(*x.values())
            changed = {k: v.clone() for k, v in x.items()}
            for v in changed.values():
                v[2] = torch.randn_like(v[2])
            new = run(*changed.values())
        for r, n in zip(ref, new):
            torch.testing.assert_close(n[:2], r[:2], rtol=0, atol=1e-5)


def test_seed_cmc_without_batch_first_mixes_the_batch():
    """Documents the seed's slip: nn.MultiheadAttention without batch_first on [B, N, C] attends over B."""
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(16, 2).eval()  # the seed's construction
    q = torch.randn(3, 5, 16)
    with torch.no_grad():
        ref = mha(q, q, q)[0]
        q2 = q.clone()
        q2[2] += 1
        new = mha(q2, q2, q2)[0]
    assert not torch.allclose(ref[0], new[0])  # sample 0 changed because sample 2 did


def test_cmc1_max_len_error_is_clear():
    m = CMCBlock1(16, 2, max_len=8)
    with pytest.raises(ValueError, match="exceeds max_len 8"):
        m(torch.randn(1, 9, 16), torch.randn(1, 9, 16))


# ---------------------------------------------------------------- TSF effect on the output


def _outputs(cfg, sort_kept):
    """Network outputs plus ``features``: the fused search feature map the head reads."""
    torch.manual_seed(5)
    net = build_network(cfg).eval()
    net.sort_kept = sort_kept
    seen = []
    net.head.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    with torch.no_grad():
        out = net(**inputs(cfg, batch=2, seed=9))
    return {**out, "features": seen[0]}


@pytest.mark.parametrize("variant", VARIANTS)
def test_tsf_effect_recover_vs_sorted(variant):
    """align recover: TSF on/off give the same output to float tolerance; align sorted: they differ
    for every fused variant (see docs/network.md, "What TSF changes" for why)."""
    for align in ("recover", "sorted"):
        cfg = tiny_cfg(stages=STAGES_OF[variant], align=align)
        if variant == "single":
            cfg["modalities"] = ["visible"]
        on, off = _outputs(cfg, True), _outputs(cfg, False)
        # the backbone keeps the same tokens either way, only their order differs; so does a
        # `ceb` stage under recover (under sorted its input, the fused sequence, already differs)
        n_same = len(on["keep_index"]) if align == "recover" else len(cfg["backbone"]["ce_loc"])
        for a, b in zip(on["keep_index"][:n_same], off["keep_index"][:n_same]):
            assert torch.equal(a, b.sort(1).values)
        assert any(not torch.equal(a, b) for a, b in zip(on["keep_index"], off["keep_index"]))
        diff = {k: (on[k] - off[k]).abs().max().item()
                for k in ("features", "score_map", "size_map", "offset_map")}
        if align == "recover" or variant == "single":
            assert max(diff.values()) < 1e-5, f"{variant}/{align}: TSF changed the output: {diff}"
        else:
            # at random init CMC's attention is near uniform, so re-pairing moves its features by
            # ~1e-2 (CMCBlock1's position term: ~0.4); either is orders above float noise (~1e-6)
            assert diff["features"] > 1e-3, f"{variant}/{align}: TSF did not change the features: {diff}"
            assert max(diff[k] for k in ("score_map", "size_map", "offset_map")) > 1e-4, diff


# ---------------------------------------------------------------- inputs


def test_one_batched_backbone_pass_and_one_channel_thermal():
    cfg = tiny_cfg()
    net = build_network(cfg).eval()
    calls = []
    net.backbone.register_forward_hook(lambda m, a, o: calls.append(a[1].shape[0]))
    x3 = inputs(cfg, batch=2, ir_channels=1)
    with torch.no_grad():
        out1 = net(**x3)
        x3b = dict(x3, template_infrared=x3["template_infrared"].expand(-1, 3, -1, -1),
                   search_infrared=x3["search_infrared"].expand(-1, 3, -1, -1))
        out3 = net(**x3b)
    assert calls == [4, 4]  # [visible; infrared] stacked: one pass of 2B samples
    torch.testing.assert_close(out1["score_map"], out3["score_map"])
    with pytest.raises(ValueError, match="template_infrared"):
        net(x3["template_visible"], x3["search_visible"])
    with pytest.raises(ValueError, match=r"search_visible must be \[2, 1\|3, 64, 64\]"):
        net(**dict(x3, search_visible=torch.randn(2, 3, 48, 48)))


def test_decode_reads_the_peak():
    score = torch.zeros(2, 1, 4, 4)
    score[0, 0, 1, 2] = 1
    score[1, 0, 3, 0] = 1
    size = torch.rand(2, 2, 4, 4)
    offset = torch.rand(2, 2, 4, 4)
    box = TrackerNet.decode(score, size, offset)
    for b, (row, col) in enumerate([(1, 2), (3, 0)]):
        expected = torch.stack([(col + offset[b, 0, row, col]) / 4, (row + offset[b, 1, row, col]) / 4,
                                size[b, 0, row, col], size[b, 1, row, col]])
        torch.testing.assert_close(box[b], expected)


# ---------------------------------------------------------------- pretrained weights


def _timm_like_state(depth=2, dim=32, heads=2):
    import timm

    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, depth=depth, embed_dim=dim,
                            num_heads=heads, num_classes=0)
    return vit.state_dict()


@pytest.mark.parametrize("layout", ["mae", "plain"])
def test_local_checkpoint_resizes_pos_embed_and_reports_missing(tmp_path, layout, caplog):
    state = _timm_like_state()
    assert state["pos_embed"].shape == (1, 197, 32)
    dropped = "blocks.1.mlp.fc2.bias"
    saved = {k: v for k, v in state.items() if k != dropped}
    path = tmp_path / "vit.pth"
    torch.save({"model": saved} if layout == "mae" else saved, path)

    cfg = tiny_cfg()
    cfg["backbone"] = {**cfg["backbone"], "depth": 2, "ce_loc": [1], "ce_keep_ratio": [0.7]}
    net = build_network(cfg)
    with caplog.at_level("WARNING"):
        report = load_pretrained(net.backbone, str(path))
    assert report.resized["pos_embed_z"] == ((1, 197, 32), (1, 4, 32))
    assert report.resized["pos_embed_x"] == ((1, 197, 32), (1, 16, 32))
    torch.testing.assert_close(net.backbone.pos_embed_z, resize_pos_embed(state["pos_embed"], 2))
    torch.testing.assert_close(net.backbone.pos_embed_x, resize_pos_embed(state["pos_embed"], 4))
    assert dropped in report.missing and dropped in caplog.text
    assert "cls_token" in report.unexpected
    torch.testing.assert_close(net.backbone.blocks[0].attn.qkv.weight, state["blocks.0.attn.qkv.weight"])
    torch.testing.assert_close(net.backbone.patch_embed.proj.weight, state["patch_embed.proj.weight"])

    # the same through the config key
    cfg["backbone"]["pretrained"] = str(path)
    net2 = build_network(cfg)
    torch.testing.assert_close(net2.backbone.pos_embed_x, net.backbone.pos_embed_x)


def test_resize_pos_embed_properties():
    const = torch.ones(1, 1 + 14 * 14, 8) * 0.3
    torch.testing.assert_close(resize_pos_embed(const, 8), torch.full((1, 64, 8), 0.3))
    pos = torch.randn(1, 14 * 14, 8)
    torch.testing.assert_close(resize_pos_embed(pos, 14), pos)  # same grid: unchanged
    with pytest.raises(ValueError, match="neither"):
        resize_pos_embed(torch.randn(1, 51, 8), 4)  # 51 is neither 7*7 nor 1 + 7*7


def test_missing_checkpoint_is_named(tmp_path):
    net = build_network(tiny_cfg())
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_pretrained(net.backbone, str(tmp_path / "nope.pth"))


def test_pretrained_can_be_skipped_when_rebuilding(tmp_path):
    cfg = tiny_cfg()
    cfg["backbone"]["pretrained"] = str(tmp_path / "gone.pth")
    with pytest.raises(FileNotFoundError, match="gone.pth"):
        build_network(cfg)
    net = build_network(cfg, load_pretrained=False)  # e.g. a checkpoint's weights are loaded next
    assert net.variant == "test" and (net.template_size, net.search_size, net.patch_size) == (32, 64, 16)
