-- T+1 conversion sets a million lots' bucket at one close. With the bucket in an index, each
-- of those updates wrote a new tuple into every index of the table and a full-page image of
-- each index page it touched: the close spent most of its time writing WAL.
--
-- The bucket leaves every index: the pending-lots index is unused (the close reads lots by
-- member), and a member's lots are few enough to filter by bucket on the heap. The free
-- space left on each page lets the conversion's new tuple versions stay on the page as
-- heap-only tuples, with no index write at all.
drop index proceeds_lots_pending;
drop index proceeds_lots_member;
create index proceeds_lots_member on proceeds_lots (platform_id, member_id, business_date) where remaining > 0;
alter table proceeds_lots set (fillfactor = 60);
