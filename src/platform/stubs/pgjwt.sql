-- pgjwt, in the schema its CREATE EXTENSION names (@extschema@): `sign`, `verify`,
-- `url_encode`, `url_decode`, `algorithm_sign`, `try_cast_double`, with pgjwt's
-- signatures. Not a stub in behaviour: HS256/384/512 tokens are signed and verified
-- with pgcrypto's hmac, as pgjwt does.
CREATE OR REPLACE FUNCTION @extschema@.url_encode(data bytea) RETURNS text
LANGUAGE sql IMMUTABLE
AS $fn$ SELECT translate(encode(data, 'base64'), E'+/=\n', '-_') $fn$;

CREATE OR REPLACE FUNCTION @extschema@.url_decode(data text) RETURNS bytea
LANGUAGE sql IMMUTABLE
AS $fn$
    SELECT decode(rpad(translate(data, '-_', '+/'), 4 * ((length(data) + 3) / 4), '='), 'base64')
$fn$;

CREATE OR REPLACE FUNCTION @extschema@.algorithm_sign(signables text, secret text, algorithm text)
RETURNS text LANGUAGE sql IMMUTABLE SET search_path = @extschema@, extensions, public
AS $fn$
    SELECT url_encode(hmac(signables, secret, CASE algorithm
        WHEN 'HS256' THEN 'sha256' WHEN 'HS384' THEN 'sha384' WHEN 'HS512' THEN 'sha512'
        ELSE '' END))
$fn$;

CREATE OR REPLACE FUNCTION @extschema@.sign(payload json, secret text, algorithm text DEFAULT 'HS256')
RETURNS text LANGUAGE sql IMMUTABLE SET search_path = @extschema@, extensions, public
AS $fn$
    SELECT signables || '.' || algorithm_sign(signables, secret, algorithm)
      FROM (SELECT url_encode(convert_to(json_build_object('alg', algorithm, 'typ', 'JWT')::text, 'utf8'))
                   || '.' || url_encode(convert_to(payload::text, 'utf8')) AS signables) AS s
$fn$;

CREATE OR REPLACE FUNCTION @extschema@.verify(token text, secret text, algorithm text DEFAULT 'HS256')
RETURNS TABLE (header json, payload json, valid boolean)
LANGUAGE sql IMMUTABLE SET search_path = @extschema@, extensions, public
AS $fn$
    SELECT convert_from(url_decode(part[1]), 'utf8')::json,
           convert_from(url_decode(part[2]), 'utf8')::json,
           part[3] = algorithm_sign(part[1] || '.' || part[2], secret, algorithm)
      FROM regexp_split_to_array(token, '\.') AS part
$fn$;

CREATE OR REPLACE FUNCTION @extschema@.try_cast_double(inp text) RETURNS double precision
LANGUAGE plpgsql IMMUTABLE
AS $fn$
BEGIN
    RETURN inp::double precision;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$fn$;
