-- pg_net, stubbed: the `net` schema with pg_net's request queue and response tables and
-- `net.http_get` / `net.http_post` / `net.http_delete` / `net.http_collect_response`,
-- with pg_net's signatures and defaults. A request is queued and its id returned, as
-- pg_net does, but no worker sends it: a trigger or function that calls the web keeps
-- working on a scratch database, and nothing leaves it. Unlike pg_net's, the queue
-- takes a request without a URL: on a scratch database the secret a trigger reads
-- its URL from (Vault) is usually absent, and a stub must not make the trigger fail.
DO $stub$
BEGIN
    IF to_regnamespace('net') IS NULL THEN
        CREATE SCHEMA net;
    END IF;
    GRANT USAGE ON SCHEMA net TO anon, authenticated, service_role;

    IF to_regtype('net.http_method') IS NULL THEN
        CREATE DOMAIN net.http_method AS text
            CHECK (value ILIKE 'get' OR value ILIKE 'post' OR value ILIKE 'delete');
    END IF;
    IF to_regtype('net.request_status') IS NULL THEN
        CREATE TYPE net.request_status AS ENUM ('PENDING', 'SUCCESS', 'ERROR');
    END IF;
    IF to_regtype('net.http_response') IS NULL THEN
        CREATE TYPE net.http_response AS (status_code integer, headers jsonb, body text);
    END IF;
    IF to_regtype('net.http_response_result') IS NULL THEN
        CREATE TYPE net.http_response_result AS (
            status net.request_status, message text, response net.http_response);
    END IF;

    IF to_regclass('net.http_request_queue') IS NULL THEN
        CREATE UNLOGGED TABLE net.http_request_queue (
            id bigserial,
            method net.http_method NOT NULL,
            url text,
            headers jsonb,
            body bytea,
            timeout_milliseconds integer
        );
        GRANT ALL ON net.http_request_queue TO PUBLIC;
        GRANT ALL ON SEQUENCE net.http_request_queue_id_seq TO PUBLIC;
    END IF;
    IF to_regclass('net._http_response') IS NULL THEN
        CREATE UNLOGGED TABLE net._http_response (
            id bigint,
            status_code integer,
            content_type text,
            headers jsonb,
            content text,
            timed_out boolean,
            error_msg text,
            created timestamptz NOT NULL DEFAULT now()
        );
        GRANT ALL ON net._http_response TO PUBLIC;
    END IF;

    -- The three request functions queue the request and return its id.
    IF to_regprocedure('net.http_get(text, jsonb, jsonb, integer)') IS NULL THEN
        CREATE FUNCTION net.http_get(
            url text, params jsonb DEFAULT '{}', headers jsonb DEFAULT '{}',
            timeout_milliseconds integer DEFAULT 5000)
        RETURNS bigint LANGUAGE sql
        AS $fn$
            INSERT INTO net.http_request_queue (method, url, headers, timeout_milliseconds)
            VALUES ('GET', url, headers, timeout_milliseconds)
            RETURNING id
        $fn$;
    END IF;
    IF to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') IS NULL THEN
        CREATE FUNCTION net.http_post(
            url text, body jsonb DEFAULT '{}', params jsonb DEFAULT '{}',
            headers jsonb DEFAULT '{"Content-Type": "application/json"}',
            timeout_milliseconds integer DEFAULT 5000)
        RETURNS bigint LANGUAGE sql
        AS $fn$
            INSERT INTO net.http_request_queue (method, url, headers, body, timeout_milliseconds)
            VALUES ('POST', url, headers, convert_to(body::text, 'UTF8'), timeout_milliseconds)
            RETURNING id
        $fn$;
    END IF;
    IF to_regprocedure('net.http_delete(text, jsonb, jsonb, integer, jsonb)') IS NULL THEN
        CREATE FUNCTION net.http_delete(
            url text, params jsonb DEFAULT '{}', headers jsonb DEFAULT '{}',
            timeout_milliseconds integer DEFAULT 5000, body jsonb DEFAULT NULL)
        RETURNS bigint LANGUAGE sql
        AS $fn$
            INSERT INTO net.http_request_queue (method, url, headers, body, timeout_milliseconds)
            VALUES ('DELETE', url, headers, convert_to(body::text, 'UTF8'), timeout_milliseconds)
            RETURNING id
        $fn$;
    END IF;
    -- No worker answers: every request stays pending.
    IF to_regprocedure('net.http_collect_response(bigint, boolean)') IS NULL THEN
        CREATE FUNCTION net.http_collect_response(request_id bigint, async boolean DEFAULT true)
        RETURNS net.http_response_result LANGUAGE sql
        AS $fn$
            SELECT ('PENDING', 'stubbed by dbkit: no request is sent', NULL)::net.http_response_result
        $fn$;
    END IF;
END
$stub$;
