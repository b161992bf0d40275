"""`opsdash demo`: a simulated fleet on loopback (real SSH and HTTP servers in a
separate process) and a scripted, time-compressed story for it.

- ``story``: who is in the fleet and what happens when, as pure functions of
  the story's elapsed time (seconds).
- ``render``: the text the probes would read on a real host (``/proc``, ``df``,
  ``apt-get -s``, ``restic``, ``redis-cli``, ``memcached``), from the story.
- ``fleet``: the process: one asyncssh listener (the SSH user name is the host
  name) and one HTTP server with the demo endpoints.
- ``config``: keys, known_hosts and the config.toml that points opsdash at it.
"""
