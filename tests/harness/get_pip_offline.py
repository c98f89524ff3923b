"""Stand-in for ansible-test's pip bootstrap script, whose download host is unreachable here.

ansible-test runs ``python get_pip.py [pip options] pip==X [--no-setuptools] [--no-wheel]`` in each empty sanity
venv. This bootstraps pip from the interpreter's own ensurepip and then installs the requested pip (and friends)
from PyPI, which is reachable, with the same options.
"""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
