"""The Cloudstate shopping cart as a Python user function of actorstate (Cloudstate Python support library)."""
