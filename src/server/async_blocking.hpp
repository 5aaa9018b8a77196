// async_blocking.hpp: runs a blocking function (a password hash, a user-store lookup) on a thread
// pool and completes on the caller's executor, so a session coroutine can
// `co_await async_blocking(pool, fn, use_awaitable)` without ever blocking the event loop.
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <memory>
#include <type_traits>
#include <utility>

namespace sluice::server {

// `fn` must not throw; its result is passed to the completion handler.
template <typename Fn, typename CompletionToken>
auto async_blocking(boost::asio::thread_pool& pool, Fn fn, CompletionToken&& token) {
    namespace asio = boost::asio;
    using Result = std::invoke_result_t<Fn&>;
    return asio::async_initiate<CompletionToken, void(Result)>(
        [&pool](auto handler, Fn f) {
            auto ex = asio::prefer(asio::get_associated_executor(handler),
                                   asio::execution::outstanding_work.tracked);
            auto h = std::make_shared<decltype(handler)>(std::move(handler));
            asio::post(pool, [h, ex, f = std::move(f)]() mutable {
                Result r = f();
                asio::post(ex, [h, r = std::move(r)]() mutable { (*h)(std::move(r)); });
            });
        },
        token, std::move(fn));
}

}  // namespace sluice::server
