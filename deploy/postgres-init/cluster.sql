-- The docker-compose "cluster" profile stores its results apart from the single process's.
CREATE DATABASE flowmart_cluster OWNER flowmart;
