"""The public API that coursework imports: names, lightness of the import, the device helper."""
import subprocess
import sys

import torch

import regr_edu as rg

SPEC_API = {"split_regions", "merge_regions", "recover_region", "bilinear_shift", "ReGr",
            "NonLocal", "CGNL", "GloRe", "create_unit", "reference", "exercises", "models",
            "data", "viz", "device"}


def test_all_holds_the_spec_api():
    assert SPEC_API <= set(rg.__all__), SPEC_API - set(rg.__all__)
    extra = set(rg.__all__) - SPEC_API
    assert extra == {"aggregate", "Refine", "distribute", "BilinearRelation", "GCNRelation",
                     "AttentionRelation", "reason"}, extra
    for name in rg.__all__:
        assert getattr(rg, name) is not None, name


def test_import_is_light():
    code = ("import sys, regr_edu\n"
            "heavy = [m for m in ('matplotlib', 'captum', 'av', 'cv2', 'ipywidgets') if m in sys.modules]\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import regr_edu pulled in: {out.stdout.strip()}"


def test_reference_does_not_import_the_fast_modules():
    code = ("import sys, importlib.util, pathlib\n"
            "import regr_edu.reference as R\n"
            "src = ''.join(p.read_text() for p in pathlib.Path(R.__file__).parent.glob('*.py'))\n"
            "bad = [m for m in ('regions', 'aggregation', 'refine', 'relations', 'distribution', 'regr', '_checks')\n"
            "       if f'from ..{m}' in src or f'from regr_edu.{m}' in src or f'import regr_edu.{m}' in src]\n"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_device_helper():
    assert rg.device() == ("cuda" if torch.cuda.is_available() else "cpu")


def test_relation_classes_are_exported_and_documented():
    from regr_edu import relations
    for name in ("BilinearRelation", "GCNRelation", "AttentionRelation"):
        cls = getattr(rg, name)
        assert cls is getattr(relations, name)
        assert cls.__doc__ and "Args:" in cls.__doc__, f"{name} has no documented arguments"
        assert cls.forward.__doc__, f"{name}.forward has no docstring"


def test_reason_is_eq_11_12_and_matches_its_literal_twin():
    gen = torch.Generator().manual_seed(0)
    R = torch.randn(2, 5, 5, dtype=torch.float64, generator=gen)
    V = torch.randn(2, 5, 3, dtype=torch.float64, generator=gen)
    Z = rg.reason(R, V)
    for b in range(2):
        torch.testing.assert_close(Z[b], rg.reference.reason(R[b], V[b]))
    torch.testing.assert_close(rg.reason(R[0], V[0]), Z[0])             # unbatched too
    rel = rg.BilinearRelation(3).double()                                 # the relations use it
    torch.testing.assert_close(rel(V), rg.reason(rel.matrix(V), V))
    gcn = rg.GCNRelation(3, num_regions=5).double()
    torch.testing.assert_close(gcn(V), rg.reason(gcn.matrix(V), V))


def test_reason_names_what_is_wrong():
    import pytest
    V = torch.randn(2, 5, 3)
    with pytest.raises(ValueError, match=r"R must have shape \(B, N, N\)"):
        rg.reason(torch.randn(2, 4, 4), V)
    with pytest.raises(ValueError, match="R must be a 2 or 3-D"):
        rg.reason(torch.randn(5), V)
    with pytest.raises(TypeError, match="one dtype"):
        rg.reason(torch.randn(2, 5, 5, dtype=torch.float64), V)


def test_progress_flag_reads_the_right_way_round():
    from regr_edu.train import get_parser, parse_config
    assert parse_config([]).progress is True
    assert parse_config(["--no-progress"]).progress is False
    assert parse_config(["--progress"]).progress is True
    text = get_parser().format_help()
    assert "--progress, --no-progress" in text
    assert "--no-progress [default" not in " ".join(text.split())
