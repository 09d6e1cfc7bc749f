-- Auth configs join the catalog (authRef targets), so every instance on one database reads the
-- same ones. Documents hold ${NAME} references to secrets, never their values.
CREATE TABLE auth_configs (
    "orgId"     text COLLATE "C" NOT NULL,
    id          text COLLATE "C" NOT NULL,
    doc         jsonb NOT NULL,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "updatedAt" timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY ("orgId", id)
);
CREATE INDEX auth_configs_id_idx ON auth_configs (id);
