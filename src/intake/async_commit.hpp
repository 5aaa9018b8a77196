// async_commit.hpp: adapts Spool::commit (completion on a spool thread) to an Asio completion
// token, so a session coroutine can `co_await async_commit(...)` and resume on its own executor.
// The event loop never waits for the disk; it only gets the answer.
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <memory>

#include "spool/spool.hpp"

namespace sluice::intake {

template <typename CompletionToken>
auto async_commit(spool::Spool& spool, std::shared_ptr<const spool::StoredMessage> msg,
                  CompletionToken&& token) {
    namespace asio = boost::asio;
    return asio::async_initiate<CompletionToken, void(spool::CommitResult)>(
        [&spool](auto handler, std::shared_ptr<const spool::StoredMessage> m) {
            // Tracked work keeps the io_context running while the commit is on the spool threads.
            auto ex = asio::prefer(asio::get_associated_executor(handler),
                                   asio::execution::outstanding_work.tracked);
            auto h = std::make_shared<decltype(handler)>(std::move(handler));
            spool.commit(std::move(m), [h, ex](spool::CommitResult r) {
                asio::post(ex, [h, r = std::move(r)]() mutable { (*h)(std::move(r)); });
            });
        },
        token, std::move(msg));
}

}  // namespace sluice::intake
