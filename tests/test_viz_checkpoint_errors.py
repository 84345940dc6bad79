"""viz.load_trained_model: a clear ValueError for files that are not a readable checkpoint, and for
weights of another network, instead of torch's or pickle's own message."""
import pytest
import torch

from regr_edu.viz.checkpoint import load_trained_model, read_checkpoint


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04broken"])
def test_unreadable_file_is_our_error(tmp_path, content):
    path = tmp_path / "bad.pth"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="could not be read as a torch checkpoint"):
        read_checkpoint(path)


def test_weights_of_another_network_name_the_keys(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"model": {"foo.weight": torch.zeros(2)}, "args": {}}, path)
    with pytest.raises(ValueError, match=r"another network .*unexpected \['foo.weight'\]"):
        load_trained_model(path, build=lambda args: torch.nn.Linear(2, 2))
