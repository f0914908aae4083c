"""After the AGI returns: the life of a recorded call, watched and steered through AMI."""
