-- Rebuild usage_daily from the deduplicated events (the machinery then clears the pipeline's dirty list).
delete from billing.usage_daily;
insert into billing.usage_daily by name
select
    day,
    customer_id,
    metric,
    sum(quantity) as quantity
from billing.usage_events
group by day, customer_id, metric;
