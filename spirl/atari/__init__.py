"""The Atari side: the game table, the paper's protocol on gymnasium + ale-py, random-policy frame datasets."""
