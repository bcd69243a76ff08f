"""How to launch the real servers a drill runs against, and wait for them."""
