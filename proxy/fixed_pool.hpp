#pragma once
// Blocks of one size carved from large chunks, for objects that live long and come in numbers
// (parked connections and their waits). Kept apart from the general allocator, they do not pin
// pages that a burst of short-lived request objects shared with them, so that memory can go back
// to the system when the burst ends. One thread only.
#include <cstddef>
#include <memory>
#include <new>
#include <vector>

namespace sluice {

class fixed_pool {
public:
    explicit fixed_pool(size_t block_size, size_t blocks_per_chunk = 256)
        : block_(round_up(block_size)), per_chunk_(blocks_per_chunk)
    {
    }
    fixed_pool(const fixed_pool&) = delete;
    fixed_pool& operator=(const fixed_pool&) = delete;

    // A block of at least `size` bytes; larger requests go to operator new.
    void* allocate(size_t size)
    {
        if (size > block_)
            return ::operator new(size);
        if (!free_) {
            chunks_.push_back(std::make_unique<std::byte[]>(block_ * per_chunk_));
            std::byte* base = chunks_.back().get();
            for (size_t i = per_chunk_; i-- > 0;)
                free_ = new (base + i * block_) free_block{free_};
        }
        free_block* b = free_;
        free_ = b->next;
        return b;
    }
    void deallocate(void* p, size_t size)
    {
        if (size > block_) {
            ::operator delete(p);
            return;
        }
        free_ = new (p) free_block{free_};
    }

private:
    struct free_block {
        free_block* next;
    };
    static size_t round_up(size_t n)
    {
        const size_t a = alignof(std::max_align_t);
        n = n < sizeof(free_block) ? sizeof(free_block) : n;
        return (n + a - 1) / a * a;
    }
    size_t block_;
    size_t per_chunk_;
    free_block* free_ = nullptr;
    std::vector<std::unique_ptr<std::byte[]>> chunks_;
};

// A standard allocator over a fixed_pool (containers' nodes, Asio's operation memory).
template <class T>
struct pool_allocator {
    using value_type = T;
    fixed_pool* pool;
    explicit pool_allocator(fixed_pool& p) noexcept : pool(&p) {}
    template <class U>
    pool_allocator(const pool_allocator<U>& other) noexcept : pool(other.pool)
    {
    }
    T* allocate(size_t n) { return static_cast<T*>(pool->allocate(n * sizeof(T))); }
    void deallocate(T* p, size_t n) noexcept { pool->deallocate(p, n * sizeof(T)); }
    template <class U>
    bool operator==(const pool_allocator<U>& other) const noexcept
    {
        return pool == other.pool;
    }
};

}  // namespace sluice
