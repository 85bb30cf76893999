"""One search for a dataset file, shared by the text loaders (notebooks 13 and 15).

:func:`read_first` tries, in order: the file an environment variable names, a
copy in the data folder, the shared offline archive beside the checkout and,
online, a download into the data folder. It returns what the first readable
source gives; when none works it raises
:class:`~course_utils.data.DatasetUnavailableError` listing what was tried and
how to fix it. :func:`download_checked` downloads a file and keeps it only if
its digest is the expected one, writing through a temporary name of its own
process (so that two processes downloading at once never mix their bytes).
"""

import hashlib
import os
import urllib.request
from pathlib import Path

from course_utils.data.images import DatasetUnavailableError
from course_utils.paths import data_dir


def download_checked(url, target, algorithm, expected, timeout=30):
    """Download ``url`` into ``target`` if its ``hashlib`` digest ``algorithm``
    (``"sha1"``, ``"sha256"``) is ``expected``; else raise ``ValueError`` and
    keep nothing. Returns ``target``."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        data = response.read()
    digest = hashlib.new(algorithm, data).hexdigest()
    if digest != expected:
        raise ValueError(f"the download's {algorithm.upper().replace('SHA', 'SHA-')} is {digest}, expected {expected}")
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.part")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target


def read_first(what, read, *, env_var, local_names, shared, errors, fixes, download=None, url=None,
               download_name=None):
    """``read(path)`` of the first source that works, for the dataset ``what``
    with its verb (e.g. ``"The Tiny Shakespeare text is"``: "... not available").

    Sources: ``$env_var``; the first of ``local_names`` present in the data
    folder; ``shared`` (the offline archive's path); then, if ``download`` (a
    function of the target path that downloads into it and returns it) is
    given, ``url`` downloaded into the data folder as ``download_name``. A
    source that raises one of ``errors`` is skipped and named in the error
    raised at the end, with ``fixes`` (a list of sentences, ``{folder}`` and
    ``{shared}`` filled in).
    """
    tried = []
    env = os.environ.get(env_var)
    folder = data_dir()
    local = [folder / name for name in local_names if (folder / name).exists()]
    candidates = [(f"${env_var}", Path(env) if env else None, "not set"),
                  (f"a copy in the data folder {folder}", local[0] if local else None,
                   f"none of {', '.join(local_names)} there"),
                  ("the shared offline archive", shared if shared.exists() else None, f"{shared} not found")]
    for description, path, why_not in candidates:
        if path is None:
            tried.append(f"{description}: {why_not}")
            continue
        try:
            return read(path)
        except errors as err:
            tried.append(f"{description} ({path}): {err}")
    if download is not None:
        target = folder / download_name
        try:
            return read(download(target))
        except Exception as err:  # network errors come in many types
            detail = " ".join(str(err).split())
            detail = detail if len(detail) <= 160 else detail[:157] + "..."
            tried.append(f"download of {url} into {target}: failed ({type(err).__name__}: {detail})")
    else:
        tried.append("download: not attempted (download=False)")
    raise DatasetUnavailableError(
        f"{what} not available.\nTried:\n"
        + "\n".join(f"  {i}. {t}" for i, t in enumerate(tried, 1))
        + "\nFix it in one of these ways:\n"
        + "\n".join(f"  - {f.format(folder=folder, shared=shared)}" for f in fixes)) from None
