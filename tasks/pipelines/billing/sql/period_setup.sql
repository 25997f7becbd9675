-- The period's catalogue and subscription segments ($first_day, $next_first_day), as temporary tables that the
-- period's charges and exceptions both read.
create or replace temporary table period_catalogue as
-- the latest catalogue effective by the period's last day
select *
from billing.stg_plans
where (export_date, source) = (
    select (export_date, source)
    from billing.stg_plans
    where export_date < $next_first_day
    order by export_date desc, source desc
    limit 1
);

create or replace temporary table period_segments as
with segments as (
    select
        subscriptions.customer_id,
        subscriptions.plan_id,
        greatest(subscriptions.start_date, $first_day) as segment_start,
        least(coalesce(subscriptions.end_date, $next_first_day - 1), $next_first_day - 1) as segment_end
    from billing.subscriptions as subscriptions
    where
        subscriptions.start_date < $next_first_day
        and (subscriptions.end_date is null or subscriptions.end_date >= $first_day)
),

plans as (
    select distinct
        plan_id,
        currency,
        base_fee
    from period_catalogue
)

-- a segment whose plan is missing from the catalogue has no price: its usage becomes exceptions
select
    segments.*,
    plans.currency,
    plans.base_fee,
    coalesce(exponents.exponent, 2) as exponent
from segments
left join plans on segments.plan_id = plans.plan_id
left join billing.currency_exponents as exponents on plans.currency = exponents.currency;
