-- Dashboard, as the browser sends it: org scope from RLS only ($1 bound, unused).
SELECT status, count(*) AS appointments
FROM appointments
WHERE scheduled_at >= $2
  AND scheduled_at < $2 + interval '1 month'
GROUP BY status
ORDER BY status
