import sys
X = 1
print("conftest name", __name__, file=sys.stderr)
