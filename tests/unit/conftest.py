"""Make the collection importable as ``ansible_collections.hybridmon.monitoring``.

The repository root *is* the collection; a symlink under ``.cache/collections`` gives it the
namespace path Ansible expects, so unit tests import plugins exactly as Ansible does.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLL_BASE = os.path.join(ROOT, ".cache", "collections")
LINK = os.path.join(COLL_BASE, "ansible_collections", "hybridmon", "monitoring")

if not os.path.islink(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    try:
        os.symlink(ROOT, LINK)
    except FileExistsError:
        pass
if COLL_BASE not in sys.path:
    sys.path.insert(0, COLL_BASE)
