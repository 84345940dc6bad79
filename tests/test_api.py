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
    assert extra == {"aggregate", "Refine", "distribute"}, extra
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
