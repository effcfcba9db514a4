"""Operations: drive the Docker engine (images, Compose, Swarm, release). Never imports Django."""
