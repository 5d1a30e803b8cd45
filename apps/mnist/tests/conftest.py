import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # test_mpi.py shares test_cli.py's data paths
