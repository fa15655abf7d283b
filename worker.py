"""`python worker.py`: run one Canary worker (same as `canary worker`)."""

from canary.worker import main

if __name__ == "__main__":
    main()
