-- pg_graphql, stubbed: the `graphql` and `graphql_public` schemas with
-- `graphql.resolve` and `graphql_public.graphql`, with pg_graphql's signatures. Every
-- query answers a GraphQL error saying the resolver is a stub.
DO $stub$
BEGIN
    IF to_regnamespace('graphql') IS NULL THEN
        CREATE SCHEMA graphql;
    END IF;
    IF to_regnamespace('graphql_public') IS NULL THEN
        CREATE SCHEMA graphql_public;
    END IF;
    GRANT USAGE ON SCHEMA graphql, graphql_public TO anon, authenticated, service_role;

    IF to_regprocedure('graphql.resolve(text, jsonb, text, jsonb)') IS NULL THEN
        CREATE FUNCTION graphql.resolve(
            query text, variables jsonb DEFAULT '{}', "operationName" text DEFAULT NULL,
            extensions jsonb DEFAULT NULL)
        RETURNS jsonb LANGUAGE sql STABLE
        AS $fn$
            SELECT jsonb_build_object('errors', jsonb_build_array(jsonb_build_object(
                'message', 'pg_graphql is stubbed by dbkit on this database: no query is resolved')))
        $fn$;
    END IF;
    IF to_regprocedure('graphql_public.graphql(text, text, jsonb, jsonb)') IS NULL THEN
        CREATE FUNCTION graphql_public.graphql(
            "operationName" text DEFAULT NULL, query text DEFAULT NULL,
            variables jsonb DEFAULT NULL, extensions jsonb DEFAULT NULL)
        RETURNS jsonb LANGUAGE sql STABLE
        AS $fn$
            SELECT graphql.resolve(query, coalesce(variables, '{}'), "operationName", extensions)
        $fn$;
    END IF;
END
$stub$;
