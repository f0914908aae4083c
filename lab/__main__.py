"""`python -m lab build|start|stop|demo` (the Makefile's lab targets)."""

import sys

from . import asterisk, calls

ACTIONS = {"build": lambda: print("lab image: " + ("built" if asterisk.build() else "cached")),
           "start": calls.start_and_report, "stop": asterisk.stop, "demo": calls.demo}


def main(argv):
    if len(argv) != 1 or argv[0] not in ACTIONS:
        sys.exit(f"usage: python -m lab {'|'.join(ACTIONS)}")
    try:
        ACTIONS[argv[0]]()
    except asterisk.LabError as error:
        sys.exit(f"lab: {error}")


if __name__ == "__main__":
    main(sys.argv[1:])
