"""The volume tests' one check of a refused file."""

import pytest

from napari_msdl.volume import load_volume


def _refused(path, *words) -> str:
    """Load ``path``, expecting a one-line ``ValueError`` naming it and holding ``words``
    (case-insensitive); the message."""
    with pytest.raises(ValueError) as err:
        load_volume(path)
    message = str(err.value)
    assert type(err.value) is ValueError
    assert str(path) in message and "\n" not in message, message
    for word in words:
        assert word.lower() in message.lower(), (word, message)
    return message


@pytest.fixture
def refused():
    """:func:`_refused`: ``refused(path, *words)`` checks that ``path`` is refused."""
    return _refused
