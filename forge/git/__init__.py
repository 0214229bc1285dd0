"""Git access. Reading and local writes go through pygit2 (``repository.py``); packs are served by the git binary
(``service.py``) because it is the fastest correct tool for that."""
